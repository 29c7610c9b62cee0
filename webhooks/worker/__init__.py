"""The delivery worker: claims due deliveries, walks them through the pipeline, schedules
retries. Runs as threads inside the web process (embedded) or on its own (`flask worker`)."""
