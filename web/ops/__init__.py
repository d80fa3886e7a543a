"""What an operator watches: readiness (readiness.py), the queue's state (queue_status.py), the
access log and request ids (access_log.py), and the API's Prometheus metrics (metrics.py)."""
