"""ddsp-launch: train your own DDSP model with one command, locally or on Google Cloud.

Two sides, kept apart:
  * host side (this package minus ``trainer/``): light dependencies, never imports TensorFlow;
  * container side (``ddsp_launch.trainer``): TensorFlow and ddsp, never imports the host side.
``ddsp_launch.common`` holds the few dependency-light pieces both sides share.
"""

__version__ = "0.1.0"
