"""The training image: Dockerfile rendering, build context and tags (plan), build and push (act)."""
