#!/bin/bash
# The stand-in's start: render the templates with the environment's
# variables only, then run the command.
set -euo pipefail
defined=$(printf '${%s} ' $(env | cut -d= -f1))
for template in /etc/nginx/templates/*.template; do
  [ -e "$template" ] || continue
  out=/etc/nginx/conf.d/$(basename "$template" .template)
  envsubst "$defined" < "$template" > "$out"
done
exec "$@"
