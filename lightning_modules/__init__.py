"""One LightningModule per paper (a sub-package each) plus the shared data modules in `data/`."""
