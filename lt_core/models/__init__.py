"""Network modules: PoseResNet backbone, V2V volume network, official checkpoint compatibility."""

from lt_core.models.algebraic import AlgebraicTriangulationNet
from lt_core.models.backbone import BackboneConfig, BackboneOutput, ConfidenceHead, PoseResNet, count_parameters
from lt_core.models.official import (
    OfficialCheckpointError,
    load_official_checkpoint,
    load_official_state_dict,
    preprocess_like_official,
    synthetic_official_state_dict,
    unpreprocess_like_official,
)
from lt_core.models.ransac_net import RANSACTriangulationNet
from lt_core.models.v2v import V2VConfig, V2VModel
from lt_core.models.volumetric import VolumetricTriangulationNet
