"""Paper 5: parallel MAX-MIN Ant System with All-In-Roulette selection (Fu, Lei, Zhou; IWACI 2010).

The Lightning classes load on first use, so `tsplib`, `mmas` and the kernels' CPU twin import
without Lightning (fast tests, the GPU check machine).
"""

__all__ = ["ParallelACO", "TSPLIBDataModule", "run_colony"]


def __getattr__(name: str):
    if name == "TSPLIBDataModule":
        from lightning_modules.parallel_aco.data import TSPLIBDataModule

        return TSPLIBDataModule
    if name in ("ParallelACO", "run_colony"):
        from lightning_modules.parallel_aco import module

        return getattr(module, name)
    raise AttributeError(f"module 'lightning_modules.parallel_aco' has no attribute '{name}'")
