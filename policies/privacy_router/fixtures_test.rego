# Shared fixtures for the policy tests (loaded only by the test runner: *_test.rego).
#
# Inputs are given per top-level key (`with input.detection as ...`), not as one `with input as {...}`:
# regopy 1.5.2 fails with "shape `rego-localref` has no field `rego-refhead`" when the whole input is
# replaced for a rule that calls functions or other rules. Per-key replacement means the same in OPA.
package privacy_router_test

import data.privacy_router
import rego.v1

principal_us := {"service": "claims-bot", "tenant": "acme-health", "jurisdiction": "US", "roles": ["client"]}

principal_de := {"service": "kundenportal", "tenant": "acme-gmbh", "jurisdiction": "DE", "roles": ["client"]}

principal_eu := {"service": "kundenportal", "tenant": "acme-eu", "jurisdiction": "EU", "roles": ["client"]}

principal_br := {"service": "atendimento", "tenant": "acme-br", "jurisdiction": "BR", "roles": ["client"]}

request := {
	"endpoint": "chat.completions",
	"model": "gpt-4o",
	"stream": false,
	"unscannable_parts": 0,
	"declared_classification": null,
}

with_hint(hint) := object.union(request, {"declared_classification": hint})

with_model(model) := object.union(request, {"model": model})

with_unscannable(n) := object.union(request, {"unscannable_parts": n})

clean := {"status": "ok", "categories": [], "entities": []}

phi := {
	"status": "ok",
	"categories": ["PHI", "PII"],
	"entities": [
		{"type": "US_SSN", "count": 1, "max_score": 0.95, "fields": ["messages[1].content"]},
		{"type": "PERSON", "count": 1, "max_score": 0.85, "fields": ["messages[1].content"]},
	],
}

pii := {
	"status": "ok",
	"categories": ["PII"],
	"entities": [
		{"type": "PERSON", "count": 2, "max_score": 0.85, "fields": ["messages[0].content"]},
		{"type": "EMAIL_ADDRESS", "count": 1, "max_score": 1.0, "fields": ["messages[0].content"]},
	],
}

only(category, entity_type) := {
	"status": "ok",
	"categories": [category],
	"entities": [{"type": entity_type, "count": 1, "max_score": 0.9, "fields": ["prompt"]}],
}

failed(status) := {"status": status, "categories": [], "entities": []}

vllm_a := {"name": "vllm-a", "region": "us-east", "healthy": true, "models": ["llama-3.1-8b"]}

vllm_b := {"name": "vllm-b", "region": "us-east", "healthy": true, "models": ["qwen-2.5-7b"]}

openai_us := {"name": "openai", "region": "us", "zero_data_retention": true, "healthy": true}

mistral_eu := {"name": "mistral", "region": "eu-west", "zero_data_retention": true, "healthy": true}

down(b) := object.union(b, {"healthy": false})

backends := {"onprem": [vllm_a], "external": [openai_us, mistral_eu]}

decide(p, r, d, b) := out if {
	out := privacy_router.decision with input.principal as p
		with input.request as r
		with input.detection as d
		with input.backends as b
}
