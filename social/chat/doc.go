// Package chat is the chat service (issue #11): direct and group
// conversations, messages with a per-conversation gap-free sequence,
// idempotent sends, read and delivered marks, history paging, and ordered
// live delivery through the push gateway.
package chat
