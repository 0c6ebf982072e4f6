"""Container side: dataset preparation and training (imports TensorFlow and ddsp lazily).

Nothing here imports the host side (cli, adapters); only ``ddsp_launch.common``.
"""
