#!/usr/bin/env python3
"""weft's example command tool: counts the words of a text.

weft writes the call's arguments to standard input as JSON and reads one JSON value back
from standard output; see word_count.yaml for the manifest that describes it.
"""
import json
import sys

arguments = json.load(sys.stdin)
words = arguments["text"].split()
json.dump({"words": len(words), "longest": max(words, key=len, default="")}, sys.stdout)
