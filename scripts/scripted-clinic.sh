# Sourced by the client test scripts (python-tests.sh, browser-tests.sh): starts the scripted
# model server for the clinic's roles — doctor models s/good (a question, a glucose test, then
# "Diabetic ketoacidosis") and s/bad ("Gastroenteritis"), a patient, a judge that says no — and
# writes $work/medsim.toml pointing at it (patient and judge set; the doctor is chosen per run).
# Needs $medsim, $work and the array pids (the server's pid is added for the caller's cleanup).
cat > "$work/script.yaml" <<'YAML'
rules:
  - when: { role: doctor, model: good }
    turn_from: "You have asked (\\d+) questions"
    replies: ["What brings you in today?", "REQUEST TEST: Serum glucose", "DIAGNOSIS READY: Diabetic ketoacidosis"]
  - when: { role: doctor, model: bad }
    reply: "DIAGNOSIS READY: Gastroenteritis"
  - when: { role: patient }
    reply: "I have been very thirsty and passing a lot of urine for a week."
  - when: { role: judge }
    reply: "No"
YAML
"$medsim" --cache-dir "$work/cache" llm serve-script "$work/script.yaml" > "$work/script.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do grep -q http "$work/script.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*' "$work/script.out" | head -1)
printf '[providers.s]\nbase_url = "%s/v1"\n[roles]\npatient = "s/patient"\njudge = "s/judge"\n' "$base" > "$work/medsim.toml"
