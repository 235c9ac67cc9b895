"""The pages' words in Chinese (the default) and English. English text is the key: a word missing
from the table shows in English rather than breaking the page."""

from __future__ import annotations

from flask import request, session

LANGUAGES = ("zh", "en")

ZH = {
    "approvals": "项目审批", "Sign in": "登录", "Sign out": "退出", "User name": "用户名", "Password": "密码",
    "Wrong user name or password": "用户名或密码错误", "Inbox": "待办", "Projects": "项目", "Models": "流程模型",
    "Admin": "管理", "API": "接口文档", "My steps": "我的待办", "Open at my agency": "本单位待办",
    "Overdue at my agency": "本单位超期事项", "Step": "环节", "Project": "项目", "Process": "流程",
    "Agency": "单位", "Assignee": "经办人", "State": "状态", "Due": "办理期限", "Created": "到达时间",
    "overdue": "已超期", "Filter": "筛选", "all": "全部", "active": "办理中", "open": "待认领",
    "claimed": "已认领", "completed": "已办结", "cancelled": "已取消", "Previous": "上一页", "Next": "下一页",
    "Nothing here.": "暂无事项。", "Claim": "认领", "Release": "释放", "Complete": "提交办理",
    "Send back": "退回", "Send back to": "退回至", "Reason": "退回理由", "Opinion": "审查意见",
    "Opinion (required to return or refuse)": "审查意见（退回、不予批准时必填）",
    "Documentation": "办理说明", "Data so far": "已填报信息", "Form": "办理表单", "Materials": "材料",
    "History": "办理记录", "Diagram": "流程图", "Working days": "已用工作日", "Limit": "时限",
    "The form has errors; nothing was saved.": "表单有误，未保存任何内容。", "Saved.": "已保存。",
    "Claimed.": "已认领。", "Released.": "已释放。", "Completed.": "已办结。", "Sent back.": "已退回。",
    "Attach": "上传", "Upload": "上传", "Stage": "阶段", "Open steps": "在办环节", "Overdue steps": "超期环节",
    "Finished steps": "已办结环节", "Timeline": "时间轴", "Status": "状态", "Result": "结果",
    "Counted working days": "计入法定时限的工作日", "Commitment": "承诺时限", "Versions": "版本",
    "Version": "版本", "Published by": "发布人", "Published at": "发布时间", "Edit diagram": "编辑流程图",
    "Check": "检查", "Publish": "发布", "Upload a .bpmn file": "上传 .bpmn 文件", "Forms": "表单",
    "Save form": "保存表单", "No problems found.": "检查通过，没有发现问题。", "Published version": "已发布版本",
    "Users": "用户", "Role": "角色", "Calendar": "工作日历", "Year": "年份", "Rest days": "调休放假日",
    "Work days": "调休上班日", "Load arrangement": "导入放假安排", "Source": "来源", "provisional": "暂定",
    "official": "官方数据", "loaded": "已导入", "New version": "新版本", "You may not do this.": "无权进行此操作。",
    "Not found.": "未找到。", "yes": "是", "no": "否", "Language": "语言", "Download": "下载",
    "since": "自", "due": "期限", "by": "经办", "for": "代", "Process models": "流程模型",
    "Name": "名称", "Key": "标识", "Owner unit": "建设单位", "Funding": "资金来源", "Investment (万元)": "投资（万元）",
    "running": "进行中", "suspended": "已挂起", "terminated": "已终止", "error": "出错",
    "sent_back": "已退回", "Steps": "环节数", "Instance": "流程实例", "Comment": "备注",
    "Delegate": "委托", "Recall": "收回", "Out of office": "休假代办", "Absent": "休假人", "Substitute": "代办人",
    "From": "开始日期", "To": "结束日期", "revoked": "已撤销", "in force": "生效中", "End now": "提前结束",
    "Name a substitute": "指定代办人", "Save": "保存",
    "Document number": "文号", "Attached": "已上传", "Delegated by": "委托人",
    # Messages from the server's checks, as they appear by the fields.
    "this field is required": "此项为必填项", "unknown field": "未知字段",
    # The history's event types.
    "instance.started": "流程启动", "instance.completed": "流程结束", "instance.error": "流程出错",
    "instance.suspended": "流程挂起", "instance.resumed": "流程恢复", "instance.terminated": "流程终止",
    "task.created": "环节到达", "task.claimed": "认领", "task.unclaimed": "释放", "task.assigned": "指派",
    "task.completed": "办结", "task.cancelled": "取消", "task.sent_back": "退回", "task.delegated": "委托",
    "task.recalled": "收回委托", "task.escalated": "超期督办", "reminder.acknowledged": "督办已阅",
    "material.uploaded": "上传材料", "material.withdrawn": "撤回材料", "comment.added": "备注",
    "timer.fired": "定时触发", "approve": "批准", "refuse": "不予批准", "agree": "同意", "accept": "受理",
    "correct": "补正", "issue": "核发", "return": "退回修改",
}


def language() -> str:
    chosen = session.get("lang") or request.cookies.get("lang")
    return chosen if chosen in LANGUAGES else "zh"


def translate(text: str) -> str:
    return ZH.get(text, text) if language() == "zh" else text
