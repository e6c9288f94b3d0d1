"""shiftkit.image: CLIP embeddings, the CLIP Interrogator honestly explained, image collections clustered.

Optional extra ``shiftkit[clip]`` (open_clip) for `OpenCLIPEncoder`; ``shiftkit[caption]``
(transformers) for `BlipCaptioner`. Everything else needs only shiftkit, and any
object satisfying `Encoder` can stand in for CLIP. Nothing here touches the
network unless downloads are allowed (``allow_download=True`` or
``SHIFTKIT_ALLOW_DOWNLOAD=1``).
"""

from shiftkit.image._banks import (
    BUILTIN_BANKS,
    POSITIVE_BANKS,
    PhraseBank,
    builtin_bank,
    load_banks,
    read_clip_interrogator_folder,
)
from shiftkit.image._cache import bank_embeddings, default_cache_dir
from shiftkit.image._caption import BlipCaptioner
from shiftkit.image._collection import (
    ImageClusters,
    cluster_embeddings,
    cluster_images,
    embed_images,
    name_clusters,
)
from shiftkit.image._encoders import Encoder, OpenCLIPEncoder, normalize_rows
from shiftkit.image._files import Skipped, find_images, flatten_alpha, load_rgb
from shiftkit.image._gallery import contact_sheet, gallery_html, write_contact_sheets
from shiftkit.image._interrogator import MODES, Captioner, Interrogation, Interrogator, Ranked
from shiftkit.image._rank import top_k

__all__ = [
    "BUILTIN_BANKS",
    "MODES",
    "POSITIVE_BANKS",
    "BlipCaptioner",
    "Captioner",
    "Encoder",
    "ImageClusters",
    "Interrogation",
    "Interrogator",
    "OpenCLIPEncoder",
    "PhraseBank",
    "Ranked",
    "Skipped",
    "bank_embeddings",
    "builtin_bank",
    "cluster_embeddings",
    "cluster_images",
    "contact_sheet",
    "default_cache_dir",
    "embed_images",
    "find_images",
    "flatten_alpha",
    "gallery_html",
    "load_banks",
    "load_rgb",
    "name_clusters",
    "normalize_rows",
    "read_clip_interrogator_folder",
    "top_k",
    "write_contact_sheets",
]
