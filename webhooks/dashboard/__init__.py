"""The dashboard: how the webhooks and their deliveries are doing, at a glance."""
