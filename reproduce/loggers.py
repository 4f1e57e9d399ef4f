"""Lightning's MLflow logger, minus the parts the frame already does.

The entry point creates the run (so a crash before training is still recorded) and logs the whole
resolved config as params; a module's save_hyperparameters() would log a second, differently
spelled copy, and MLflow refuses to change a param's value, so hyperparameters are not re-logged.
"""

from lightning.pytorch.loggers import MLFlowLogger


class ConfigLoggedMLFlowLogger(MLFlowLogger):
    def log_hyperparams(self, params, *args, **kwargs) -> None:  # already logged from the config
        return None
