"""Data: motion capture readers and retargeting, datasets."""

# camera calibration readers/writers, Pose2Sim demo, Human3.6M (paper's labels, 3d-pose-baseline, VideoPose3D) and
# CMU Panoptic datasets
from lt_core.data.calibration import (
    load_panoptic_calibration,
    load_rig_json,
    load_toml_calibration,
    save_panoptic_calibration,
    save_rig_json,
    save_toml_calibration,
)
from lt_core.data.calibration_common import CalibrationError  # noqa: E402
from lt_core.data.calibration_formats import load_anipose_calibration, load_easymocap_cameras  # noqa: E402
from lt_core.data.h36m_baseline import load_h36m_baseline  # noqa: E402
from lt_core.data.h36m_cameras import (  # noqa: E402
    h36m_camera_from_raw,
    h36m_cameras_from_labels,
    load_h36m_cameras_h5,
)
from lt_core.data.h36m_sequences import H36MSequence, H36MSequenceDataset, H36MSequences  # noqa: E402
from lt_core.data.human36m import Human36MDataset, collate_samples, load_h36m_labels  # noqa: E402
from lt_core.data.panoptic import PanopticDataset  # noqa: E402
from lt_core.data.pose2sim import Pose2SimDetections, pose2sim_check, read_openpose_json, read_trc  # noqa: E402

# embedded default data: camera rigs, the synthetic multi-view dataset, the shared sample format
from lt_core.data.rigs import dome_rig, human36m_like_rig, load_rig  # noqa: E402
from lt_core.data.sample import check_sample  # noqa: E402
from lt_core.data.synthetic import SyntheticMultiViewDataset  # noqa: E402
from lt_core.data.videopose3d import load_videopose3d, videopose3d_cameras  # noqa: E402
