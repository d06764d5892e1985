"""robots.txt rules as RFC 9309 reads them.

The standard library's ``RobotFileParser`` predates the RFC: it applies the first rule that
matches in file order and reads ``*`` and ``$`` literally. So the common "allow one section"
file (``Disallow: /`` then ``Allow: /news/``) refused every page of the section, and
``Disallow: /*.pdf$`` refused nothing. Here the longest matching rule wins (``Allow`` on a
tie), ``*`` matches any characters and a final ``$`` anchors the end. Wildcards are matched
by scanning for each literal piece in turn, not by a regular expression a hostile file could
make backtrack for minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote

# Characters kept as they are when a path and a rule are brought to one percent-encoding.
_SAFE = "/?=&;:@!$,+~'()*-._"


def _canonical(text: str) -> str:
    return quote(unquote(text), safe=_SAFE)


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    pieces: tuple[str, ...]  # the pattern's literal parts, between its `*`s
    anchored: bool  # the pattern ended with `$`
    length: int  # the pattern's length: the longest matching rule wins

    @classmethod
    def parse(cls, *, allow: bool, pattern: str) -> _Rule:
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        pieces = tuple(_canonical(piece) for piece in body.split("*"))
        return cls(allow=allow, pieces=pieces, anchored=anchored, length=len(pattern))

    def matches(self, path: str) -> bool:
        first, *rest = self.pieces
        if not path.startswith(first):
            return False
        position = len(first)
        if not rest:
            return not self.anchored or position == len(path)
        *middle, last = rest
        for piece in middle:  # leftmost is best for `*`-only patterns
            found = path.find(piece, position)
            if found < 0:
                return False
            position = found + len(piece)
        if self.anchored:
            return path.endswith(last) and len(path) - len(last) >= position
        return path.find(last, position) >= 0


@dataclass(frozen=True, slots=True)
class RobotsRules:
    """The groups of one robots.txt: (user agents, rules)."""

    groups: tuple[tuple[tuple[str, ...], tuple[_Rule, ...]], ...] = ()

    @classmethod
    def parse(cls, lines: Iterable[str]) -> RobotsRules:
        """Read the lines of a robots.txt (unknown lines and rules outside a group ignored)."""
        groups: list[tuple[tuple[str, ...], tuple[_Rule, ...]]] = []
        agents: list[str] = []
        rules: list[_Rule] = []
        in_rules = False  # a rule line (even an empty `Disallow:`) was read in this group
        for raw in lines:
            key, colon, value = raw.split("#", 1)[0].partition(":")
            key, value = key.strip().lower(), value.strip()
            if not colon:
                continue
            if key == "user-agent":
                if in_rules:  # a user-agent line after rules starts the next group
                    groups.append((tuple(agents), tuple(rules)))
                    agents, rules, in_rules = [], [], False
                agents.append(value.lower())
            elif key in ("allow", "disallow") and agents:
                in_rules = True
                if value:  # an empty rule matches nothing
                    rules.append(_Rule.parse(allow=key == "allow", pattern=value))
        if agents:
            groups.append((tuple(agents), tuple(rules)))
        return cls(groups=tuple(groups))

    def allows(self, user_agent: str, target: str) -> bool:
        """Whether ``user_agent`` may fetch ``target`` (a URL's path and query): the rules of
        the groups naming its product token, else of the ``*`` groups; none match: allowed."""
        token = user_agent.split("/", 1)[0].strip().lower()
        ours = [
            group
            for agents, group in self.groups
            if any(agent not in ("", "*") and agent in token for agent in agents)
        ]
        if not ours:
            ours = [group for agents, group in self.groups if "*" in agents]
        rules = [rule for group in ours for rule in group]
        path = _canonical(target or "/")
        best: tuple[int, bool] | None = None
        for rule in rules:
            if rule.matches(path) and (best is None or (rule.length, rule.allow) > best):
                best = (rule.length, rule.allow)
        return best is None or best[1]
