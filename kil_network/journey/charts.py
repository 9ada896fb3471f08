"""The progress chart's geometry: a council's level on each principle, year on year, drawn as SVG
on the server (like the results' bars). Presentation only: the levels come from
journey.services.progress; every bar carries its year and level as text, so nothing is told by
colour alone, and the page has the same figures as a data table beside the chart."""

WIDTH = 480
LABEL = 96           # the "Principle n" column
SCALE = 240          # the width of level 4
BAR = 20
GAP = 4
GROUP_GAP = 14
TOP = 30             # room for the level numbers along the top
MAX_YEARS = 4        # the chart shows the latest four years (the table shows them all)


def progress_chart(progress: dict, levels: dict[int, str]) -> dict | None:
    """Rows of bars for the template: per principle, one bar per year with its length and label;
    the axis ticks; the height; a text description. None when there is nothing to draw."""
    years = progress["years"][-MAX_YEARS:]
    if not years:
        return None
    groups, y = [], TOP
    for number in progress["numbers"]:
        bars = []
        for index, year in enumerate(years):
            level = progress["levels"].get((year, number))
            bars.append({"year": year, "level": level, "y": y, "width": round(SCALE * (level or 0) / 4),
                         "text": f"{year}: {levels[level]}" if level else f"{year}: not answered",
                         "shade": len(years) - 1 - index})  # 0 is the newest year: the darkest bar
            y += BAR + GAP
        groups.append({"number": number, "label_y": bars[0]["y"] + BAR - 5, "bars": bars})
        y += GROUP_GAP
    ticks = [{"x": LABEL + round(SCALE * k / 4), "name": name, "level": k} for k, name in levels.items()]
    latest = years[-1]
    summary = "; ".join(
        f"principle {n}: {levels.get(progress['levels'].get((latest, n)), 'not answered').lower()}"
        for n in progress["numbers"])
    return {"width": WIDTH, "height": y, "label_x": LABEL, "groups": groups, "ticks": ticks, "bar": BAR,
            "years": years, "top": TOP,
            "description": f"Levels from 1 (starting) to 4 (leading) for each principle in "
                           f"{', '.join(str(y) for y in years)}. In {latest}: {summary}."}
