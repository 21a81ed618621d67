// Package chat is the chat service (issue #11): direct and group
// conversations, messages with a per-conversation gap-free sequence,
// idempotent sends, read and delivered marks, history paging, and ordered
// live delivery through the push gateway. A block between two users
// (Config.Blocks) refuses their direct conversation, their adding each
// other to groups and their direct sends; see blocks.go.
//
// Each user has one budget, Config.SendRate (by default 20 a second,
// bursts of 60), for every action that writes an event for other
// members: sends, edits, deletes for everyone, pins and unpins, creating
// conversations, and changing a group's title, avatar, members or roles.
// Every such event lands in each member's update stream, which keeps a
// bounded number of updates, and may send them an offline push: one
// member toggling a pin in a loop would otherwise push the others' real
// updates out and make them resync. Past the budget an action is answered
// 429 rate_limited with Retry-After. An action's membership, role and
// fields are checked before it spends a token, so a refused one costs
// nothing; lookups per named user or media id come after, so a heavy one
// is still limited. Typing has its own limit, one signal a second per
// user and conversation, so it never spends the budget of sending. Read
// and delivered marks are not limited. See limits.go.
package chat
