"""Benchmarks of the pipeline against the real local stack (``continuity bench``).

Every figure is reported next to a baseline measured in the same invocation (a bare
kafka-python producer, a bare aiokafka consume + decode loop), because the machine is shared
and noisy: absolute numbers move between runs, ratios much less.
"""
