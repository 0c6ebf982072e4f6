"""Google Cloud: Vertex AI job requests, their validation, legacy AI Platform configs, tuning."""
