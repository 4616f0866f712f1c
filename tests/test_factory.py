"""The training factory builds registered models and datasets and refuses options they do not take."""

from __future__ import annotations

import pytest

from lt_core.train.config import TrainConfig
from lt_core.train.factory import DATASETS, MODELS, build_dataset, build_model


def test_registered_models_and_their_options():
    net = build_model(TrainConfig(model="volumetric", model_options={"aggregation": "sum", "volume_size": 16}))
    assert type(net).__name__ == "VolumetricTriangulationNet" and net.aggregation == "sum" and net.volume_size == 16
    assert set(MODELS) == {"algebraic", "volumetric", "ransac"} and set(DATASETS) >= {"synthetic", "human36m"}


def test_unknown_model_option_raises_listing_the_accepted_ones():
    # the name an older docstring suggested: it used to be dropped silently, giving a softmax model
    with pytest.raises(
        ValueError,
        match=r"unknown model_options of 'volumetric': \['volume_aggregation'\]; "
        r"accepted: \[.*'aggregation'",
    ):
        build_model(TrainConfig(model="volumetric", model_options={"volume_aggregation": "sum"}))
    with pytest.raises(ValueError, match="v2v_options.*volumetric models"):
        build_model(TrainConfig(model="algebraic", model_options={"v2v_options": {"front_channels": 8}}))


def test_unknown_dataset_and_dataset_option_raise():
    with pytest.raises(ValueError, match=r"unknown dataset_options of 'synthetic': \['frames_per_clip'\]"):
        build_dataset(TrainConfig(dataset_options={"frames_per_clip": 3}), "val")
    with pytest.raises(ValueError, match="unknown dataset 'kitti'"):
        build_dataset(TrainConfig(dataset="kitti"), "val")
    ds = build_dataset(
        TrainConfig(image_size=(64, 64), views=2, dataset_options={"max_frames_per_clip": 2, "load_images": False}),
        "val",
    )
    assert ds.num_views == 2 and ds.out_size == (64, 64) and len(ds) == 2 * len(ds.clips)
