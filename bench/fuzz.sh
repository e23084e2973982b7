#!/usr/bin/env bash
# Fuzzing: each cargo-fuzz target (fuzz/fuzz_targets) run for a bounded
# time from seeds made with real tools, then one table: runs, corpus,
# crashes. Usage: bash bench/fuzz.sh [seconds per target, default 300]
# [targets...]. Crashes are left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
SECONDS_EACH="${1:-300}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(decode pdf multipart json_bodies search_query ocr_output)
fi

# cargo-fuzz needs nightly Rust (libFuzzer's instrumentation); both pinned.
CARGO_FUZZ_VERSION=0.13.1
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  cargo install --locked "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

# Seeds: small pages in every encoding the decoders take, made with
# ImageMagick and libtiff's tools; PDFs with img2pdf and by hand; bodies.
seed() { mkdir -p "fuzz/corpus/$1"; }
make_seeds() {
  local t; t=$(mktemp -d)
  convert -size 96x48 xc:white -fill black -draw "rectangle 8,8 40,20" -draw "line 50,30 90,40" "$t/page.png"
  seed decode
  local d=fuzz/corpus/decode
  cp "$t/page.png" "$d/grey8.png"
  convert "$t/page.png" -depth 16 "$d/grey16.png"
  convert "$t/page.png" -alpha set -channel A -evaluate set 50% "$d/alpha.png"
  convert "$t/page.png" "$d/plain.jpg"
  convert "$t/page.png" -interlace JPEG "$d/progressive.jpg"
  convert "$t/page.png" -colorspace CMYK "$d/cmyk.jpg"
  convert "$t/page.png" -orient RightTop "$d/exif.jpg"
  convert "$t/page.png" "$d/page.bmp"
  convert "$t/page.png" "$d/page.gif"
  convert "$t/page.png" "$d/page.webp" 2>/dev/null || true
  convert "$t/page.png" -threshold 50% -depth 1 -compress none "$t/bw.tif"
  for c in none g3 g4 lzw packbits zip jpeg; do
    if [ "$c" = jpeg ]; then
      convert "$t/page.png" -depth 8 "$t/grey.tif" && tiffcp -c jpeg "$t/grey.tif" "$d/$c.tif"
    else
      tiffcp -c "$c" "$t/bw.tif" "$d/$c.tif"
    fi
  done
  tiffcp -c lzw -t -w 16 -l 16 "$t/bw.tif" "$d/tiled.tif"
  tiffcp "$d/g4.tif" "$d/lzw.tif" "$d/jpeg.tif" "$d/multipage.tif"
  convert "$t/page.png" -colorspace CMYK "$d/cmyk.tif"
  convert "$t/page.png" -type palette "$d/palette.tif"

  seed pdf
  img2pdf --imgsize 300dpix300dpi -o fuzz/corpus/pdf/image.pdf "$t/page.png"
  img2pdf --imgsize 300dpix300dpi -o fuzz/corpus/pdf/g4.pdf "$d/g4.tif"
  printf '%s\n' '%PDF-1.4' '1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj' \
    '2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj' \
    '3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Rotate 90 /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >> endobj' \
    '4 0 obj << /Length 44 >> stream' 'BT /F1 12 Tf 10 50 Td (Scriptorium) Tj ET' 'endstream endobj' \
    '5 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> endobj' \
    'trailer << /Root 1 0 R >>' '%%EOF' > fuzz/corpus/pdf/text.pdf

  seed multipart
  printf '\0--X\r\nContent-Disposition: form-data; name="languages"\r\n\r\neng+fra\r\n--X\r\nContent-Disposition: form-data; name="dpi"\r\n\r\n300\r\n--X\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nPNGDATA\r\n--X--\r\n' > fuzz/corpus/multipart/form
  printf '\2raw body' > fuzz/corpus/multipart/raw

  seed json_bodies
  printf '\0{"username":"alice","password":"correct horse battery"}' > fuzz/corpus/json_bodies/credentials
  printf '\1{"messages":[{"role":"user","content":"hi"}],"temperature":0.5,"max_tokens":8,"stop":["x"],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"object","properties":{"a":{"type":"string","maxLength":5}}}}}}' > fuzz/corpus/json_bodies/chat
  printf '\2{"prompt":"hello","top_k":4,"seed":1}' > fuzz/corpus/json_bodies/completion
  printf '\3{"question":"Quelle est la date de la r\xc3\xa9union ?","document_ids":[],"stream":true}' > fuzz/corpus/json_bodies/ask

  seed search_query
  printf 'invoices' > fuzz/corpus/search_query/word
  printf '"ch\xc3\xa2teau fort" tann* -r\xc3\xa9unions' > fuzz/corpus/search_query/mixed

  seed ocr_output
  printf '%s' '{"languages":"eng","text":"Hi you","pages":[{"page":1,"width":100,"height":50,"text":"Hi you","mean_confidence":90,"seconds":0.1,"rotation":0,"source":"ocr","blocks":[{"bbox":[1,2,60,20],"lines":[{"text":"Hi you","bbox":[1,2,60,20],"words":[{"text":"Hi","bbox":[1,2,20,20],"confidence":95.0},{"text":"you","bbox":[25,2,60,20],"confidence":85.5}]}]}]}]}' > fuzz/corpus/ocr_output/doc.json
  rm -rf "$t"
}
make_seeds

cd fuzz
# AddressSanitizer on (the default): our FFI to Leptonica and PDFium is
# unsafe code. Leaks are not reported (the C libraries keep caches for the
# process's life); growth is caught by -rss_limit_mb instead.
export ASAN_OPTIONS="detect_leaks=0"
for target in "${TARGETS[@]}"; do
  cargo +nightly fuzz build -O "$target"
done
rows=()
for target in "${TARGETS[@]}"; do
  log="artifacts/$target.log"
  mkdir -p "artifacts/$target"
  start=$(date +%s)
  status=0
  # -rss_limit_mb: a target that needs more than this is a finding too.
  cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  took=$(( $(date +%s) - start ))
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  corpus=$(find "corpus/$target" -type f | wc -l)
  crashes=$(find "artifacts/$target" -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) | wc -l)
  rows+=("| $target | $took | $runs | $corpus | $crashes | $([ $status -eq 0 ] && echo clean || echo "stopped: see fuzz/$log") |")
done
echo
echo "| target | seconds | runs | corpus files | crashes, OOMs, timeouts | outcome |"
echo "|---|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
