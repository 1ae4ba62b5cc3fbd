# Data classes: what the request contains, and how strictly it must be handled.
#
# Three levels, strictest first: "sensitive" (stays on-prem), "personal" (may leave only scrubbed,
# and only to a region the tenant may export personal data to), "clean" (may leave as is).
# Client hints (request.declared_classification) can raise the level, never lower it.
package privacy_router

import rego.v1

# Classes that never leave the trust boundary, even scrubbed.
sensitive_classes := {"PHI", "PCI", "CREDENTIALS"}

# Classes this policy knows how to scrub. Any other class name is handled as sensitive (fail closed:
# a detector pack may add a class before the policy learns about it).
scrubbable_classes := {"PII"}

# Hints that make a request sensitive whatever the detector found.
sensitive_hints := {"confidential", "phi", "pci", "credentials"}

# "internal" and "public" (and null) are accepted and add nothing: a hint never loosens routing.
known_hints := sensitive_hints | {"pii", "internal", "public"}

categories := {c | some c in input.detection.categories}

entity_types := {e.type | some e in input.detection.entities}

detector_failed if input.detection.status != "ok"

has_unscannable if input.request.unscannable_parts > 0

# Each reason names a class or a rule, never a value from the request.
# Strings are built with concat(), not sprintf(): in regopy 1.5.2 sprintf's %s renders a string taken
# from a set with its JSON quotes (breaking the output document), and %q is not supported.
detector_statuses := {"error", "timeout"}

sensitive_reasons contains msg if {
	detector_failed
	input.detection.status in detector_statuses
	msg := concat("", ["detector status \"", input.detection.status, "\": content handled as sensitive"])
}

sensitive_reasons contains "detector status unknown: content handled as sensitive" if {
	detector_failed
	not input.detection.status in detector_statuses
}

sensitive_reasons contains msg if {
	has_unscannable
	msg := sprintf("%d unscannable part(s) (image, audio, file or token ids): content handled as sensitive", [input.request.unscannable_parts])
}

sensitive_reasons contains msg if {
	some c in sensitive_classes
	c in categories
	msg := concat("", [c, " present: sensitive class stays on-prem"])
}

sensitive_reasons contains msg if {
	some c in categories
	not c in sensitive_classes
	not c in scrubbable_classes
	msg := "unknown data class present: handled as sensitive"
}

sensitive_reasons contains msg if {
	input.request.declared_classification in sensitive_hints
	msg := concat("", ["client declared classification \"", input.request.declared_classification, "\": handled as sensitive"])
}

sensitive_reasons contains msg if {
	hint := input.request.declared_classification
	hint != null
	not hint in known_hints
	msg := "unknown declared classification: handled as sensitive"
}

sensitive if count(sensitive_reasons) > 0

personal_reasons contains "PII present: may leave only scrubbed, to a permitted region" if "PII" in categories

personal_reasons contains "entities detected without a class: handled as PII" if {
	count(entity_types) > 0
	count(categories) == 0
}

personal_reasons contains "client declared classification \"pii\": handled as PII" if {
	input.request.declared_classification == "pii"
}

personal if {
	not sensitive
	count(personal_reasons) > 0
}

clean if {
	not sensitive
	not personal
}
