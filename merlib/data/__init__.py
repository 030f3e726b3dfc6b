"""merlib.data: datasets (licensed copies and the synthetic default) and preprocessing.

* :func:`load_dataset` / :class:`MERDataset` — CASME II, SAMM, SMIC-HS, the MEGC2019 composite and
  the synthetic dataset as a pandas table of clips with lazy frame access;
* :func:`load_manifest` — what merlib knows about each dataset (``data_manifest/*.yaml``);
* :class:`DatasetError` — every malformed file or annotation row; :class:`QuirkWarning` — a known
  defect of a release was repaired (recorded per clip, never silently);
* temporal preprocessing (:mod:`merlib.data.frames`): TIM, resampling, key frames, SSIM difference
  frame, sliding windows, apex estimation;
* faces (:mod:`merlib.data.faces`): detection, 68 landmarks, onset-frame alignment, region crops.

``merlib.data.synthetic`` (the generator) is imported on demand.
"""
from merlib.data.datasets import CLIP_COLUMNS, MERDataset, VerifyReport, load_dataset, read_image, verify_dataset
from merlib.data.errors import DatasetError, QuirkWarning
from merlib.data.faces import (
    GAM_MER_LANDMARKS, GAM_MER_REGIONS, LANDMARK_GROUPS, FaceAlignment, FaceNotFoundError, align_clip,
    apply_alignment, detect_faces, detect_landmarks, estimate_alignment, eye_centers, landmark_patches,
    region_crops,
)
from merlib.data.frames import (
    difference_frame_indices, estimate_apex, key_frame_indices, key_frames, path_graph_embedding,
    resample_frames, sliding_window_indices, sliding_windows, ssim, ssim_to_first, tim_interpolate,
    tim_weights, uniform_indices,
)
from merlib.data.manifest import list_manifests, load_manifest

__all__ = [
    "load_dataset", "load_manifest", "list_manifests", "DatasetError", "MERDataset", "VerifyReport",
    "verify_dataset", "read_image", "CLIP_COLUMNS", "QuirkWarning",
    # frames
    "tim_interpolate", "tim_weights", "path_graph_embedding", "uniform_indices", "resample_frames",
    "key_frame_indices", "key_frames", "ssim", "ssim_to_first", "difference_frame_indices",
    "sliding_window_indices", "sliding_windows", "estimate_apex",
    # faces
    "FaceNotFoundError", "FaceAlignment", "LANDMARK_GROUPS", "GAM_MER_REGIONS", "GAM_MER_LANDMARKS",
    "detect_faces", "detect_landmarks", "eye_centers", "estimate_alignment", "apply_alignment", "align_clip",
    "landmark_patches", "region_crops",
]
