// Package chat is the chat service (issue #11): direct and group
// conversations, messages with a per-conversation gap-free sequence,
// idempotent sends, read and delivered marks, history paging, and ordered
// live delivery through the push gateway. A block between two users
// (Config.Blocks) refuses their direct conversation, their adding each
// other to groups and their direct sends; see blocks.go.
package chat
