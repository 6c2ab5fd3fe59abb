package pgqueue

const ReceiveSQLForTest = receiveSQL

const AckSQLForTest = ackSQL
