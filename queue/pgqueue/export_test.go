package pgqueue

const ReceiveSQLForTest = receiveSQL

const AckSQLForTest = ackSQL

const ReceiveSettingsForTest = receiveSettings

// AckStatements returns how many ack DELETEs d has sent.
func AckStatements(d *Driver) int64 { return d.acks.stmts.Load() }
