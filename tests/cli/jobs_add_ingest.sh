#!/usr/bin/env bash
# `mmpipe jobs add ingest PATH...` through the real binary: the ingest jobs it queues carry the
# embedding model's identity and the same key `mmpipe ingest` gives them.  Checks:
#   - without --embed-model it is a usage error (2) naming the option, and queues nothing;
#     --embed-model on another kind is a usage error; a model that is not an embedding model is
#     fatal (1);
#   - with it: one job per document (pictures and other files skipped with a note), model = the
#     identity `mmpipe ingest` records; a second add queues nothing;
#   - `mmpipe ingest` afterwards finds those very jobs (0 new jobs) and runs them: every document
#     gets its chunks; `mmpipe worker --embed-model` runs jobs added for another collection.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh" "$@"
E=$HERE/../../samples/models/embed-tiny.gguf
G=$HERE/../../samples/models/tiny-gemma4-e2b-q8_0.gguf
[ -f "$E" ] && [ -f "$G" ] || skip "the sample models under samples/models are missing"
DB=j.db
mkdir -p docs/sub
printf '# One\n\nThe first document about lanterns.\n' >docs/one.md
printf 'Second document about copper kettles.\n' >docs/sub/two.txt
printf '<html><body><p>Third, about hazel hedges.</p></body></html>\n' >docs/three.html
cp "$HERE/../../samples/images/triangle.jpg" docs/pic.jpg
printf 'binary\0stuff' >docs/blob.bin

run jobs add --db "$DB" ingest docs
expect_rc 2 "jobs add ingest without --embed-model"
err_has "--embed-model" "the usage error names --embed-model"
[ ! -e "$DB" ] || eq "$(q "$DB" "SELECT count(*) FROM jobs")" 0 "nothing queued without --embed-model"
run jobs add --db "$DB" --embed-model "$E" hash docs
expect_rc 2 "--embed-model on a hash job"
run jobs add --db "$DB" --embed-model "$G" ingest docs
expect_rc 1 "jobs add ingest with a model that is not an embedding model"
err_has "embedding" "the error says why"

run jobs add --db "$DB" --embed-model "$E" ingest docs
expect_rc 0 "jobs add ingest"
err_has "3 documents: 3 new jobs" "one job per document"
err_has "2 files skipped" "the picture and the other file are skipped"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE kind = 'ingest'")" 3 "ingest jobs queued"
eq "$(q "$DB" "SELECT count(*) FROM inputs WHERE CAST(path AS TEXT) IN ('docs/pic.jpg', 'docs/blob.bin')")" 0 "no job for skipped files"
eq "$(q "$DB" "SELECT count(DISTINCT model) FROM jobs WHERE kind = 'ingest' AND model LIKE '%:%'")" 1 "the jobs carry a model identity"
eq "$(q "$DB" "SELECT DISTINCT json_extract(params, '$.collection') FROM jobs")" default "the collection is in the params"
run jobs add --db "$DB" --embed-model "$E" ingest docs
expect_rc 0 "second jobs add ingest"
err_has "0 new jobs" "nothing new the second time"
ids=$(q "$DB" "SELECT group_concat(id) FROM jobs ORDER BY id")

run ingest --db "$DB" --embed-model "$E" docs
expect_rc 0 "ingest after jobs add"
err_has "3 documents: 0 new jobs" "ingest finds the jobs jobs add queued"
eq "$(q "$DB" "SELECT group_concat(id) FROM jobs ORDER BY id")" "$ids" "no other job"
eq "$(q "$DB" "SELECT count(*) FROM jobs WHERE state = 'done'")" 3 "ingest ran them"
eq "$(q "$DB" "SELECT model FROM vectors LIMIT 1")" "$(q "$DB" "SELECT DISTINCT model FROM jobs")" "vectors carry the jobs' model"
eq "$(q "$DB" "SELECT count(*) FROM documents")" 3 "every document ingested"

# another collection, run by a worker with the embedding model
run jobs add --db "$DB" --embed-model "$E" --collection other ingest docs/sub
expect_rc 0 "jobs add ingest --collection other"
err_has "1 new jobs" "another collection is another job"
run worker --db "$DB"
expect_rc 0 "a worker without the embedding model"
eq "$(q "$DB" "SELECT state FROM jobs WHERE json_extract(params, '$.collection') = 'other'")" queued \
    "a worker without --embed-model leaves the ingest job queued"
run worker --db "$DB" --embed-model "$E"
expect_rc 0 "worker --embed-model"
eq "$(q "$DB" "SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id WHERE c.name = 'other'")" 1 \
    "the worker ingested into the other collection"
run search --db "$DB" --embed-model "$E" --collection other "copper kettles" --json
expect_rc 0 "search the other collection"
grep -q '"path":"docs/sub/two.txt"' .out || fail "search finds the document added by jobs add: $(head -c 300 .out)"

# a worker with the generation model and the embedding model runs the ingest jobs too
S=$(cd "$(dirname "$0")/../../samples" && pwd)
run jobs add --db "$DB" --embed-model "$E" --collection third ingest docs/sub
expect_rc 0 "jobs add ingest --collection third"
run worker --db "$DB" -m "$S/models/tiny-gemma4-e2b-q8_0.gguf" --mmproj "$S/models/tiny-mmproj-gemma4va.gguf" --embed-model "$E"
expect_rc 0 "worker -m --mmproj --embed-model"
eq "$(q "$DB" "SELECT state FROM jobs WHERE json_extract(params, '$.collection') = 'third'")" done \
    "a worker with both models runs the ingest job"
echo "PASS: jobs_add_ingest"
