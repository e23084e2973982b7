# PDFium for PDF input: the libpdfium.so inside the pypdfium2 wheel on PyPI,
# checked against its sha256, unpacked into vendor/pdfium/. Sourced by
# deps.sh and the container build; needs python3 with pip.

PDFIUM_WHEEL_VERSION="5.15.2"
PDFIUM_WHEEL_SHA256="dc31aea5b0fb9fefc9b537a65f4113980b2c40798445736a7e6565bc85161e37"

fetch_pdfium() {
  [ -f vendor/pdfium/libpdfium.so ] && return 0
  local tmp wheel
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_17_x86_64 --python-version 3.11 \
    "pypdfium2==${PDFIUM_WHEEL_VERSION}" -d "$tmp"
  wheel=$(ls "$tmp"/pypdfium2-*.whl)
  echo "${PDFIUM_WHEEL_SHA256}  ${wheel}" | sha256sum -c --quiet -
  mkdir -p vendor/pdfium
  python3 - "$wheel" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    with open("vendor/pdfium/libpdfium.so", "wb") as out:
        out.write(z.read("pypdfium2_raw/libpdfium.so"))
PY
  rm -rf "$tmp"
}
