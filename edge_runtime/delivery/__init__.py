"""Delivery: the durable on-device outbox and the publishers that drain it (Kafka, Event Hubs, a topic file)."""
