import pytest
import torch

from lt_core.skeleton import BODY25B, COCO19, H36M17, convert_joints, get_skeleton, joint_mapping


def test_h36m_order_matches_paper():
    assert H36M17.joints[6] == "Pelvis" and H36M17.root == 6
    assert H36M17.joints[:3] == ("RAnkle", "RKnee", "RHip") and H36M17.joints[16] == "Neck"
    assert H36M17.side("LShoulder") == "left" and H36M17.side(0) == "right" and H36M17.side("Spine") == "center"
    assert len(H36M17.bones) == 16  # a tree over 17 joints
    sides = H36M17.bone_sides()
    assert sides.count("left") == sides.count("right") == 6


def test_coco19_to_h36m_mapping_and_validity():
    j = torch.randn(4, 19, 3, dtype=torch.float64)
    valid = torch.ones(4, 19, dtype=torch.bool)
    valid[1, COCO19.index("LEar")] = False
    out, ok = convert_joints(j, "coco19", "h36m17", valid)
    assert out.shape == (4, 17, 3)
    assert torch.allclose(out[:, H36M17.index("RKnee")], j[:, COCO19.index("RKnee")])
    assert torch.allclose(out[:, H36M17.index("Pelvis")], j[:, COCO19.index("BodyCenter")])
    head = (j[:, COCO19.index("REar")] + j[:, COCO19.index("LEar")]) / 2
    assert torch.allclose(out[0, H36M17.index("Head")], head[0])
    assert not ok[1, H36M17.index("Head")] and torch.isnan(out[1, H36M17.index("Head")]).all()
    assert ok[0].all()


def test_body25b_mapping_pelvis_is_mean_of_hips():
    A = joint_mapping(BODY25B)
    assert A.shape == (17, 25)
    assert torch.allclose(A.sum(1), torch.ones(17, dtype=torch.float64))
    assert A[6, BODY25B.index("LHip")] == 0.5


def test_lookup_errors():
    with pytest.raises(KeyError, match="unknown skeleton"):
        get_skeleton("smpl")
    with pytest.raises(KeyError, match="has no joint"):
        H36M17.index("Tail")
    with pytest.raises(ValueError, match="expected 19 source joints"):
        convert_joints(torch.zeros(17, 3), "coco19")
