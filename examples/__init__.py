"""Examples of bringing your own model to ma52 (``ma52 train --model examples.temporal_cnn:build``)."""
