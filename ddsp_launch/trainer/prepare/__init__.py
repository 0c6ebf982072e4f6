"""Dataset preparation: audio files -> ddsp TFRecords (audio, f0, loudness) + statistics.

Run as ``python -m ddsp_launch.trainer.prepare`` (or ``ddsp-launch prepare`` from the host).
Stages, one module each:
  sources   find and check the input files (local or gs://)
  windows   cut files into chunks and chunks into fixed-length examples (pure)
  features  f0 (CREPE or pYIN) and A-weighted loudness, as ddsp computes them
  records   sharded TFRecord writing and the atomic commit of the output folder
  stats     the dataset statistics file timbre transfer needs (ddsp's own function)
  pipeline  the whole run, in parallel, with progress
"""
