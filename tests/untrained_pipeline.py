"""A pyannote.audio 4 speaker-diarization pipeline directory with untrained (random) weights.

Laid out like ``pyannote/speaker-diarization-community-1`` on the model hub, so that
``Pipeline.from_pretrained(<directory>)`` builds the real pipeline from it: ``config.yaml``
(VBx clustering with a PLDA), ``segmentation/pytorch_model.bin`` (a powerset PyanNet:
3 speakers per 10 s chunk, at most 2 at once), ``embedding/pytorch_model.bin`` (a WeSpeaker
ResNet34, 256 dimensions) and ``plda/{xvec_transform,plda}.npz``. No model hub is reachable from
CI, so the tests and benchmarks run the real code on these; the turns they give are arbitrary
but structurally real. Imports torch and pyannote: use only where the diarization extra is installed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

CONFIG = """\
dependencies:
  pyannote.audio: 4.0.0
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    segmentation: $model/segmentation
    segmentation_step: {segmentation_step}
    segmentation_batch_size: 32
    embedding: $model/embedding
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    plda: $model/plda
params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
"""

EMBEDDING_DIMENSION = 256
LDA_DIMENSION = 128


def _save(model, path: Path) -> None:
    """Write ``model`` as the Lightning checkpoint ``Model.from_pretrained`` reads."""
    import lightning
    import torch

    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
                  "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(checkpoint)  # adds the pyannote.audio versions, architecture, specifications
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)


def write_untrained_pipeline(directory: Path, segmentation_step: float = 0.1, seed: int = 0) -> Path:
    """Create the pipeline directory (about 30 MB) and return it. ``segmentation_step`` is the
    step of the 10 s segmentation window as a share of it (community-1: 0.1, i.e. 1 s); a larger
    one means fewer chunks to embed (faster, coarser)."""
    import numpy as np
    import torch

    with warnings.catch_warnings():  # its audio decoder is not needed here
        warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed correctly")
        from pyannote.audio.core.task import Problem, Resolution, Specifications
        from pyannote.audio.models.embedding import WeSpeakerResNet34
        from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.yaml").write_text(CONFIG.format(segmentation_step=segmentation_step), encoding="utf-8")

    segmentation = PyanNet(sample_rate=16000)
    segmentation.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=10.0,
        classes=["speaker#1", "speaker#2", "speaker#3"], powerset_max_classes=2, permutation_invariant=True)
    segmentation.build()
    _save(segmentation, directory / "segmentation" / "pytorch_model.bin")

    embedding = WeSpeakerResNet34(sample_rate=16000)
    embedding.specifications = Specifications(problem=Problem.REPRESENTATION, resolution=Resolution.CHUNK,
                                              duration=10.0)
    _save(embedding, directory / "embedding" / "pytorch_model.bin")

    rng = np.random.default_rng(seed)
    (directory / "plda").mkdir(exist_ok=True)
    lda = np.linalg.qr(rng.standard_normal((EMBEDDING_DIMENSION, EMBEDDING_DIMENSION)))[0][:, :LDA_DIMENSION]
    np.savez(directory / "plda" / "xvec_transform.npz", mean1=np.zeros(EMBEDDING_DIMENSION),
             mean2=np.zeros(LDA_DIMENSION), lda=lda)
    np.savez(directory / "plda" / "plda.npz", mu=np.zeros(LDA_DIMENSION), tr=np.eye(LDA_DIMENSION),
             psi=np.linspace(2.0, 0.5, LDA_DIMENSION))
    return directory
