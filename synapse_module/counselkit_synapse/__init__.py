"""counselkit's counselling core, loaded by each tenant's Synapse (homeserver.yaml `modules:`).

The Synapse-facing class is `counselkit_synapse.module.CounsellingModule`; `logic` and `store` import nothing from
Synapse, so that their rules are unit-tested on the control machine. See docs/architecture.md.
"""
