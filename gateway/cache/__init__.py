"""The response cache's parts: keys, the memory and Redis tiers, the tiered store, policy, stream assembly and
replay, and the management routes. The pipeline layer that uses them is `gateway.layers.cache.Cache`."""
