"""Thin HTTP handlers: parse, call, return JSON or a stream."""
