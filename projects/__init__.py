"""Terraform projects and runs: code + connection + role, runs as Celery tasks with a clean environment."""
