package privacy_router_test

import rego.v1

test_phi_routes_onprem if {
	d := decide(principal_us, request, phi, backends)
	d.action == "onprem"
	d.backend == "vllm-a"
	d.scrub_entities == []
	d.reasons == [
		"PHI present: sensitive class stays on-prem",
		"sensitive data: routed to a healthy on-prem backend",
	]
	d.policy_id == "privacy_router.decision"
}

test_pci_routes_onprem if {
	d := decide(principal_us, request, only("PCI", "CREDIT_CARD"), backends)
	d.action == "onprem"
	d.reasons[0] == "PCI present: sensitive class stays on-prem"
}

test_credentials_route_onprem if {
	d := decide(principal_us, request, only("CREDENTIALS", "AWS_ACCESS_KEY"), backends)
	d.action == "onprem"
	d.reasons[0] == "CREDENTIALS present: sensitive class stays on-prem"
}

test_unknown_class_is_sensitive if {
	d := decide(principal_us, request, only("BIOMETRIC", "FINGERPRINT_ID"), backends)
	d.action == "onprem"
	d.reasons[0] == "unknown data class present: handled as sensitive"
}

test_detector_error_is_sensitive if {
	d := decide(principal_us, request, failed("error"), backends)
	d.action == "onprem"
	d.reasons == [
		"detector status \"error\": content handled as sensitive",
		"sensitive data: routed to a healthy on-prem backend",
	]
}

test_detector_timeout_is_sensitive if {
	d := decide(principal_us, request, failed("timeout"), backends)
	d.action == "onprem"
}

test_unscannable_parts_are_sensitive if {
	d := decide(principal_us, with_unscannable(2), clean, backends)
	d.action == "onprem"
	d.reasons[0] == "2 unscannable part(s) (image, audio, file or token ids): content handled as sensitive"
}

test_declared_phi_on_clean_text_is_sensitive if {
	d := decide(principal_us, with_hint("phi"), clean, backends)
	d.action == "onprem"
	d.reasons[0] == "client declared classification \"phi\": handled as sensitive"
}

test_declared_confidential_is_sensitive if {
	d := decide(principal_us, with_hint("confidential"), clean, backends)
	d.action == "onprem"
}

test_declared_public_does_not_loosen_phi if {
	d := decide(principal_us, with_hint("public"), phi, backends)
	d.action == "onprem"
}

test_declared_public_does_not_loosen_pii if {
	d := decide(principal_us, with_hint("public"), pii, backends)
	d.action == "external_scrubbed"
}

test_declared_pii_on_clean_text_is_scrubbed_route if {
	d := decide(principal_us, with_hint("pii"), clean, backends)
	d.action == "external_scrubbed"
	d.scrub_entities == []
	d.reasons[0] == "client declared classification \"pii\": handled as PII"
}

test_unknown_hint_is_sensitive if {
	d := decide(principal_us, with_hint("top-secret"), clean, backends)
	d.action == "onprem"
	d.reasons[0] == "unknown declared classification: handled as sensitive"
}

test_entities_without_class_are_personal if {
	det := {"status": "ok", "categories": [], "entities": [{"type": "PERSON", "count": 1, "max_score": 0.8, "fields": ["input"]}]}
	d := decide(principal_us, request, det, backends)
	d.action == "external_scrubbed"
	d.scrub_entities == ["PERSON"]
}

test_clean_routes_external if {
	d := decide(principal_us, request, clean, backends)
	d == {
		"action": "external",
		"backend": "openai",
		"scrub_entities": [],
		"fallbacks": ["mistral"],
		"reasons": ["no sensitive or personal data detected: routed external"],
		"policy_id": "privacy_router.decision",
	}
}
