"""The faust worker: thin glue between Kafka and the pure processing core."""
