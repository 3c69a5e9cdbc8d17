"""Wire formats of attachments: a photo or PDF sealed once, uploaded in chunks, named in a report.

A portal strips a photo's hidden metadata, encrypts the file once with a fresh key (libsodium's
secretstream, XChaCha20-Poly1305), and uploads only the ciphertext, in chunks that can resume
after a broken connection. A version 2 report names each attachment by the hub's id, with the
plaintext's type, size and digest and the key; the hub seals that key to each recipient inside
the recipient's packet, and stores the ciphertext once, whatever the number of recipients.

These are the models both sides are being built against (issue 16); the hub does not serve the
upload routes yet, and version 1 reports, the only ones it accepts, carry no attachments.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ATTACHMENT_ID_PATTERN",
    "CHUNK_BYTES",
    "SECRETSTREAM_MESSAGE_BYTES",
    "Attachment",
    "AttachmentId",
    "AttachmentShows",
    "MediaType",
    "Sha256Hex",
    "UploadCommitted",
    "UploadRequest",
    "UploadStatus",
]

ATTACHMENT_ID_PATTERN = r"^att_[0-9a-f]{32}$"
# An upload's chunks are byte ranges of the ciphertext, 1 MiB each (the last one shorter).
CHUNK_BYTES = 1024 * 1024
# The plaintext is encrypted in secretstream messages of 64 KiB (the last one shorter, tagged
# final); each message grows by 17 bytes, and the stream starts with a 24-byte header.
SECRETSTREAM_MESSAGE_BYTES = 64 * 1024

AttachmentId = Annotated[
    str, Field(pattern=ATTACHMENT_ID_PATTERN, description="The hub's id of an upload.")
]
Sha256Hex = Annotated[
    str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, 64 lowercase hex digits.")
]
MediaType = Literal["image/jpeg", "image/png", "image/heic", "application/pdf"]


class AttachmentShows(StrEnum):
    """What an attachment shows: the only things a reporter is asked to attach.

    Never images of abuse: every form says so (docs/protocol.md).
    """

    suspect = "suspect"
    place = "place"
    vehicle = "vehicle"
    document = "document"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attachment(_Strict):
    """One attachment as a version 2 report names it."""

    attachment_id: AttachmentId
    media_type: MediaType = Field(description="Type of the plaintext file.")
    shows: AttachmentShows = Field(description="What the file shows.")
    size: int = Field(ge=1, description="Bytes of the plaintext file, after metadata stripping.")
    sha256: Sha256Hex = Field(description="SHA-256 of the plaintext file.")
    sealed_size: int = Field(ge=1, description="Bytes of the uploaded ciphertext.")
    sealed_sha256: Sha256Hex = Field(description="SHA-256 of the uploaded ciphertext.")
    key: str = Field(
        pattern=r"^[A-Za-z0-9_-]{43}$",
        description="The 32-byte secretstream key, base64url without padding. The hub seals it "
        "to each recipient inside the recipient's packet and never stores it.",
    )


class UploadRequest(_Strict):
    """A source opens (or finds again) the upload of one ciphertext."""

    sealed_size: int = Field(ge=1, description="Bytes of the whole ciphertext.")
    sealed_sha256: Sha256Hex = Field(description="SHA-256 of the whole ciphertext.")


class UploadStatus(_Strict):
    """Where an upload stands: which chunks the hub holds, so that a client can resume."""

    attachment_id: AttachmentId
    state: Literal["open", "committed"]
    sealed_size: int
    sealed_sha256: Sha256Hex
    chunk_bytes: int = Field(description="Bytes per chunk; the last chunk may be shorter.")
    chunks: int = Field(description="Number of chunks of the whole ciphertext.")
    received: list[int] = Field(description="Indexes of the chunks the hub holds, ascending.")


class UploadCommitted(_Strict):
    """The hub's answer to a commit: the whole ciphertext is held and its digest checked."""

    attachment_id: AttachmentId
    sealed_size: int
    sealed_sha256: Sha256Hex
