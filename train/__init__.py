"""Server-side training: encoders, pretraining, few-shot probes (installed as ``imuedge.train``)."""
