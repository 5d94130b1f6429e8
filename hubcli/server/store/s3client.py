"""A narrow, typed wrapper of the boto3 S3 client: the calls ``S3Storage`` makes, with the
conditional writes it relies on (``If-None-Match: *`` and ``If-Match: <etag>`` on PutObject and
CompleteMultipartUpload, as AWS S3, MinIO, Ceph RGW and R2 implement them).

boto3 is imported here only, and this module only by ``S3Storage``: a ``file://`` server and the
CLI's start-up never load it. Credentials come from boto3's standard chain (environment,
``~/.aws/config`` and ``credentials``, instance roles); they are never read or logged here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class PreconditionFailed(Exception):
    """A conditional write lost (the object exists, or changed since it was read)."""


class NoSuchUpload(Exception):
    """A multipart upload that was completed or aborted."""


@dataclass
class Stored:
    data: bytes
    etag: str


class S3Client:
    """One bucket, key names under ``prefix``; thread-safe (boto3 clients are)."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.exceptions import ClientError  # type: ignore[import-untyped]

        self._ClientError = ClientError
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        cfg = Config(
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=64,
            s3={"addressing_style": "path"} if endpoint_url else {},
            # S3-compatible stores differ in the flexible checksums they accept: send them only
            # where an operation requires one (the content is verified by its sha256 anyway)
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self._c: Any = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=cfg)

    def key(self, name: str) -> str:
        return self.prefix + name

    def _code(self, e: Exception) -> tuple[str, int]:
        r = getattr(e, "response", {}) or {}
        code = str(r.get("Error", {}).get("Code", ""))
        status = int(r.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return code, status

    def _missing(self, e: Exception) -> bool:
        code, status = self._code(e)
        return status == 404 or code in ("NoSuchKey", "404", "NotFound")

    def _conflict(self, e: Exception) -> bool:
        code, status = self._code(e)
        # 409 ConditionalRequestConflict: a concurrent conditional write to the same key
        return status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict")

    # ---------------------------------------------------------------- small objects
    def get(self, name: str) -> Stored | None:
        try:
            r = self._c.get_object(Bucket=self.bucket, Key=self.key(name))
        except self._ClientError as e:
            if self._missing(e):
                return None
            raise
        with r["Body"] as body:
            return Stored(body.read(), str(r["ETag"]))

    def head(self, name: str) -> int | None:
        """The size of the object, None when there is none."""
        try:
            r = self._c.head_object(Bucket=self.bucket, Key=self.key(name))
        except self._ClientError as e:
            if self._missing(e):
                return None
            raise
        return int(r["ContentLength"])

    def put(
        self, name: str, data: bytes, *, if_match: str | None = None, create: bool = False
    ) -> str:
        """Write ``data``; ``create``: only if the key does not exist, ``if_match``: only if its
        ETag is still that. A lost condition raises ``PreconditionFailed``. Returns the ETag."""
        kw: dict[str, Any] = {}
        if create:
            kw["IfNoneMatch"] = "*"
        if if_match is not None:
            kw["IfMatch"] = if_match
        try:
            r = self._c.put_object(Bucket=self.bucket, Key=self.key(name), Body=data, **kw)
        except self._ClientError as e:
            if (create or if_match is not None) and self._conflict(e):
                raise PreconditionFailed(name) from None
            raise
        return str(r["ETag"])

    def delete(self, name: str) -> None:
        self._c.delete_object(Bucket=self.bucket, Key=self.key(name))

    def names(self, prefix: str) -> Iterator[str]:
        """Names (without the store prefix) of the objects under ``prefix``."""
        for name, _ in self.entries(prefix):
            yield name

    def entries(self, prefix: str) -> Iterator[tuple[str, str]]:
        """(name without the store prefix, ETag) of the objects under ``prefix``."""
        pages = self._c.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.key(prefix)
        )
        cut = len(self.prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                yield str(obj["Key"])[cut:], str(obj.get("ETag") or "")

    # ---------------------------------------------------------------- big objects
    def get_range(self, name: str, start: int, length: int) -> Iterator[bytes]:
        """``length`` bytes from ``start``, in pieces of up to 1 MiB."""
        if length <= 0:
            return
        r = self._c.get_object(
            Bucket=self.bucket, Key=self.key(name), Range=f"bytes={start}-{start + length - 1}"
        )
        body = r["Body"]
        try:
            while True:
                buf = body.read(1 << 20)
                if not buf:
                    return
                yield buf
        finally:
            body.close()

    def start_multipart(self, name: str) -> str:
        r = self._c.create_multipart_upload(Bucket=self.bucket, Key=self.key(name))
        return str(r["UploadId"])

    def upload_part(self, name: str, upload_id: str, number: int, data: bytes) -> str:
        r = self._c.upload_part(
            Bucket=self.bucket, Key=self.key(name), UploadId=upload_id, PartNumber=number,
            Body=data,
        )  # fmt: skip
        return str(r["ETag"])

    def complete_multipart(
        self, name: str, upload_id: str, etags: list[str], *, create: bool = True
    ) -> None:
        """Publish the parts as one object (``create``: only if the key does not exist yet)."""
        parts = [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]
        kw: dict[str, Any] = {"IfNoneMatch": "*"} if create else {}
        try:
            self._c.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key(name), UploadId=upload_id,
                MultipartUpload={"Parts": parts}, **kw,
            )  # fmt: skip
        except self._ClientError as e:
            if create and self._conflict(e):
                raise PreconditionFailed(name) from None
            if self._code(e)[0] == "NoSuchUpload":
                raise NoSuchUpload(upload_id) from None
            raise

    def abort_multipart(self, name: str, upload_id: str) -> None:
        try:
            self._c.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key(name), UploadId=upload_id
            )
        except self._ClientError as e:
            if self._code(e)[0] != "NoSuchUpload":
                raise

    def presign_part(self, name: str, upload_id: str, number: int, ttl: int) -> str:
        """A presigned ``UploadPart`` URL: the client PUTs part ``number`` straight to the store
        (no credentials of ours or its own; the answer's ETag goes into the completion)."""
        params = {
            "Bucket": self.bucket, "Key": self.key(name), "UploadId": upload_id,
            "PartNumber": number,
        }  # fmt: skip
        return str(self._c.generate_presigned_url("upload_part", Params=params, ExpiresIn=ttl))

    def complete_parts(self, name: str, upload_id: str, parts: list[tuple[int, str]]) -> str:
        """Complete a multipart upload from (part number, ETag) pairs (the store checks the
        ETags: ``ValueError`` on a wrong or missing part); returns the object's ETag."""
        body = [{"PartNumber": n, "ETag": e} for n, e in sorted(parts)]
        try:
            r = self._c.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key(name), UploadId=upload_id,
                MultipartUpload={"Parts": body},
            )  # fmt: skip
        except self._ClientError as e:
            code, status = self._code(e)
            if code == "NoSuchUpload" or status == 404:
                raise NoSuchUpload(upload_id) from None
            if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall") or status == 400:
                raise ValueError(f"{code}: the parts do not match the upload") from None
            raise
        return str(r.get("ETag", ""))

    def head_etag(self, name: str) -> tuple[int, str] | None:
        """(size, ETag) of the object, None when there is none."""
        try:
            r = self._c.head_object(Bucket=self.bucket, Key=self.key(name))
        except self._ClientError as e:
            if self._missing(e):
                return None
            raise
        return int(r["ContentLength"]), str(r["ETag"])

    def copy_new(self, src: str, src_etag: str, dst: str, size: int, piece: int) -> None:
        """Copy ``src`` (only while its ETag is still ``src_etag``) to the new key ``dst`` inside
        the store (``UploadPartCopy`` ranges: no byte passes through the replica, no 5 GB limit),
        published with ``If-None-Match: *``; ``PreconditionFailed`` when ``dst`` exists."""
        upload_id = self.start_multipart(dst)
        etags: list[str] = []
        try:
            source = {"Bucket": self.bucket, "Key": self.key(src)}
            for start in range(0, max(size, 1), piece):
                end = min(size, start + piece) - 1
                kw: dict[str, Any] = {"CopySourceIfMatch": src_etag}
                if size:
                    kw["CopySourceRange"] = f"bytes={start}-{end}"
                r = self._c.upload_part_copy(
                    Bucket=self.bucket, Key=self.key(dst), UploadId=upload_id,
                    PartNumber=len(etags) + 1, CopySource=source, **kw,
                )  # fmt: skip
                etags.append(str(r["CopyPartResult"]["ETag"]))
            self.complete_multipart(dst, upload_id, etags, create=True)
            upload_id = ""
        finally:
            if upload_id:
                self.abort_multipart(dst, upload_id)

    def presign_get(self, name: str, ttl: int, filename: str | None = None) -> str:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(name)}
        if filename:
            safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in filename)
            params["ResponseContentDisposition"] = f'attachment; filename="{safe}"'
        return str(self._c.generate_presigned_url("get_object", Params=params, ExpiresIn=ttl))
