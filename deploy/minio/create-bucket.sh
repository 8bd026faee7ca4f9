#!/bin/sh
# One-shot MinIO set-up, run by the `minio-init` service (image minio/mc) on every
# `docker compose up`; idempotent. It
#   1. creates the vault bucket (S3_BUCKET) with versioning on, so an overwritten or deleted
#      object can be recovered (see docs/OPERATIONS.md, "Backups"),
#   2. creates a bucket-scoped policy and the app's own access key, so the app never holds the
#      MinIO root credentials.
# Environment: MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, S3_BUCKET, S3_ACCESS_KEY, S3_SECRET_KEY,
# optionally MINIO_URL (default http://minio:9000).
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${S3_BUCKET:?}"
: "${S3_ACCESS_KEY:?}" "${S3_SECRET_KEY:?}"
url="${MINIO_URL:-http://minio:9000}"
policy="huntaze-${S3_BUCKET}"

# The server may still be finishing its start-up even when its healthcheck passed once.
tries=0
until mc alias set huntaze "$url" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "minio-init: MinIO at $url is not answering" >&2
        exit 1
    fi
    sleep 2
done

mc mb --ignore-existing "huntaze/${S3_BUCKET}"
mc version enable "huntaze/${S3_BUCKET}"

# Written with shell builtins only (the mc image is minimal: no guarantee of cat or mktemp).
policy_file="${TMPDIR:-/tmp}/huntaze-policy-$$.json"
trap 'rm -f "$policy_file"' EXIT
while IFS= read -r line; do printf '%s\n' "$line"; done >"$policy_file" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
      "Resource": ["arn:aws:s3:::${S3_BUCKET}"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                 "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::${S3_BUCKET}/*"]
    }
  ]
}
JSON
mc admin policy create huntaze "$policy" "$policy_file" >/dev/null

# `user add` on an existing user updates its secret key: rotating S3_SECRET_KEY in .env and
# re-running `docker compose up` is how the key is rotated.
mc admin user add huntaze "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >/dev/null
if ! out="$(mc admin policy attach huntaze "$policy" --user "$S3_ACCESS_KEY" 2>&1)"; then
    case "$out" in
        *already*) ;;  # attached on an earlier start
        *) echo "$out" >&2; exit 1 ;;
    esac
fi

echo "minio-init: bucket ${S3_BUCKET} ready (versioned), access key ${S3_ACCESS_KEY} attached"
