"""`python -m reproduce <overrides>`: check the overrides, then hand them to Hydra (reproduce/train.py)."""

import sys

from reproduce.cli import validate_overrides_or_exit

if __name__ == "__main__":
    sys.argv[1:] = validate_overrides_or_exit(sys.argv[1:])
    from reproduce.train import main

    main()
