"""What the broker and the Connect runtime both need, and nothing else: the generic Kafka protocol
codec over kio (:mod:`kafka_common.codec`) and Java ``.properties`` parsing
(:mod:`kafka_common.properties`). Imports only the standard library and third-party packages — never
``broker``, ``connect`` or ``rest`` — so either side can use it without importing the other.
"""
