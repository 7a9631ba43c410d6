"""MA-52 data: official list files, decord decoding, frame sampling, clip transforms, the dataset, checks."""

from ma52lib.data.check import DatasetReport, SplitReport, check_dataset
from ma52lib.data.dataset import DatasetError, MA52Dataset, collate
from ma52lib.data.lists import AnnotationError, Clip, read_label_names, read_list, write_label_names, write_list
from ma52lib.data.sampling import dense_indices, tsn_test_indices, tsn_train_indices
from ma52lib.data.transforms import ClipTransform
from ma52lib.data.video import VideoError, VideoInfo, decode_frames, open_video, probe, read_frames

__all__ = [
    "AnnotationError",
    "Clip",
    "ClipTransform",
    "DatasetError",
    "DatasetReport",
    "MA52Dataset",
    "SplitReport",
    "VideoError",
    "VideoInfo",
    "check_dataset",
    "collate",
    "decode_frames",
    "dense_indices",
    "open_video",
    "probe",
    "read_frames",
    "read_label_names",
    "read_list",
    "tsn_test_indices",
    "tsn_train_indices",
    "write_label_names",
    "write_list",
]
