"""Retries, circuit breakers, fallback chains and load balancing: the parts the failover layer is made of."""
