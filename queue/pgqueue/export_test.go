package pgqueue

const ReceiveSQLForTest = receiveSQL

const AckSQLForTest = ackSQL

const ReceiveSettingsForTest = receiveSettings
