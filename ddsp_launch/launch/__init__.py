"""The launcher: settings from flags, files and prompts; launching; records; TensorBoard; doctor."""
